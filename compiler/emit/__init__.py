"""Emitters: each a pure function from the IR to a list of GeneratedFile."""
