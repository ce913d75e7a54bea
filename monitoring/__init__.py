"""Monitoring: drift checks, Evidently reports, the retrain decision."""
