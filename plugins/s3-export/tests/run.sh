#!/bin/sh
# run.sh NODE E2E_DIR CASE PLUGIN DRIVER - runs one s3-export integration case, or skips
# (exit 77) when node or the e2e node_modules (s3rver, @aws-sdk/client-s3) are missing.
node="$1"; e2e="$2"; case="$3"; plugin="$4"; driver="$5"
if [ -z "$node" ] || ! command -v "$node" >/dev/null 2>&1; then
    echo "SKIP: node not found (install Node.js >= 20 to run the s3-export tests)"
    exit 77
fi
if [ ! -d "$e2e/node_modules/s3rver" ] || [ ! -d "$e2e/node_modules/@aws-sdk/client-s3" ]; then
    echo "SKIP: $e2e/node_modules has no s3rver / @aws-sdk/client-s3 (run npm ci in $e2e)"
    exit 77
fi
NODE_NO_WARNINGS=1 exec "$node" "$(dirname "$0")/s3_test.mjs" "$e2e/package.json" "$case" "$plugin" "$driver"
