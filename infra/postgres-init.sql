-- Prefect's database beside Feast's registry (POSTGRES_DB creates churn_feast).
CREATE DATABASE prefect OWNER churn;
