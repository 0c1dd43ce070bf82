# Turns the file IN into a C source OUT defining wr_default_policy_yaml[] (NUL-terminated).
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
file(WRITE "${OUT}" "/* generated from policies/default.yaml: do not edit */\n"
  "const char wr_default_policy_yaml[] = {\n${body}0x00};\n"
  "const unsigned long wr_default_policy_len = sizeof(wr_default_policy_yaml) - 1;\n")
