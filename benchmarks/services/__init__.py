"""BentoML services the serving benchmark compares the platform's service with."""
