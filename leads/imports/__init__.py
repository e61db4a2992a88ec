"""CSV import of leads: detection, column mapping, parsing, deduplication and the import service."""
