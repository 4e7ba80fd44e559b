"""Core: settings, database, migrations, artifact store, events, errors, operations. Imports no domain."""
