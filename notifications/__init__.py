"""Everything that leaves the process: calendars and email."""
