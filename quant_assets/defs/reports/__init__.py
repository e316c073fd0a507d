"""Reports group: the SOD and EOD reports, their files, email and schedules."""
