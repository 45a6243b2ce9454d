# Writes the default election spec into a C++ source as a raw string, so every
# binary carries the reference election without reading a file.
file(READ ${INPUT} spec)
file(WRITE ${OUTPUT}
"// Generated from deploy/elections/kz-2023.spec.json; do not edit.\n"
"namespace tally::internal {\n"
"extern const char kEmbeddedDefaultSpec[];\n"
"const char kEmbeddedDefaultSpec[] = R\"tally_spec(${spec})tally_spec\";\n"
"}  // namespace tally::internal\n")
