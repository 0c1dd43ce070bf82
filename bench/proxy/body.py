# Writes a 4 KB OpenAI chat completions request (clean prose, nothing a policy finds).
import json, sys
prose = ("The quarterly planning notes describe how the platform team will migrate the "
         "batch schedulers to the new cluster, which dashboards need updating, and what the "
         "rollback plan looks like if the storage layer misbehaves during the cut-over. ")
text = (prose * 40)[:3800]
body = {"model": "gpt-4o", "messages": [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": text}], "max_tokens": 64}
sys.stdout.write(json.dumps(body))
