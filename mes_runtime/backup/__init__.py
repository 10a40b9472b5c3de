"""Verified logical backups of a module's PostgreSQL database in an S3-compatible store
(``mes-runtime backup create|verify``; the upgrade's backup gate runs them as Jobs)."""
