"""Framework-free core of the churn platform: settings, schema, raw data, snapshots."""

__version__ = "0.1.0"
