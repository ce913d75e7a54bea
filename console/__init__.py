"""The retention console: web pages for the people who act on the scores (`churn console`)."""
