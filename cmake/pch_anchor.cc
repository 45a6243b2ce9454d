// The one source of the targets that own tally's precompiled headers
// (CMakeLists.txt, TALLY_PCH): they compile the headers; other targets
// reuse them. Nothing else is built from here.
