"""The HTTP service: online features -> calibrated model -> EV decision, with auth, rate limits and logs."""
