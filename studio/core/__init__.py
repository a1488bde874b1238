"""The core: domain models, database, job lifecycle, params, validation, accounts."""
