"""A user module that fails while it is imported: `durably check` says so in one line."""

raise RuntimeError("the settings file is missing")
