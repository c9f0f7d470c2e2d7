"""One module per CLI command: a plain function that takes converted options and returns an exit code."""
