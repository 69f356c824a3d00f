"""Edit formats (apply_patch, SEARCH/REPLACE, whole file) into ChangeSets; matching; apply; diffs."""
