"""Locust user for benchmarks/load_test.py: a person browsing dashboards and results.

Ids come from the environment (set by load_test.py): LOAD_MODEL_IDS and LOAD_RESULT_IDS,
comma-separated. Requests are grouped by route template so percentiles are per endpoint.
"""

from __future__ import annotations

import os
import random

from locust import HttpUser, between, task

MODEL_IDS = [int(v) for v in os.environ.get("LOAD_MODEL_IDS", "1").split(",") if v]
RESULT_IDS = [int(v) for v in os.environ.get("LOAD_RESULT_IDS", "1").split(",") if v]
THINK = float(os.environ.get("LOAD_THINK_SECONDS", "1.0"))


class DashboardReader(HttpUser):
    # A person clicking: about THINK seconds between requests (0 = as fast as possible).
    wait_time = between(THINK * 0.5, THINK * 1.5)

    @task(2)
    def models_overview(self) -> None:
        self.client.get("/api/v1/models", name="/api/v1/models")

    @task(3)
    def model_dashboard(self) -> None:
        model = random.choice(MODEL_IDS)
        self.client.get(f"/api/v1/models/{model}", name="/api/v1/models/[id]")

    @task(4)
    def result(self) -> None:
        result = random.choice(RESULT_IDS)
        self.client.get(f"/api/v1/results/{result}", name="/api/v1/results/[id]")

    @task(1)
    def result_arrays(self) -> None:
        result = random.choice(RESULT_IDS)
        self.client.get(f"/api/v1/results/{result}/arrays", name="/api/v1/results/[id]/arrays")

    @task(1)
    def result_csv(self) -> None:
        result = random.choice(RESULT_IDS)
        self.client.get(f"/api/v1/results/{result}/csv", name="/api/v1/results/[id]/csv")

    @task(2)
    def jobs_page(self) -> None:
        offset = random.choice((0, 0, 50, 500))
        self.client.get(f"/api/v1/jobs?limit=50&offset={offset}", name="/api/v1/jobs")

    @task(1)
    def compare(self) -> None:
        ids = ",".join(str(i) for i in random.sample(RESULT_IDS, k=min(3, len(RESULT_IDS))))
        self.client.get(f"/api/v1/compare?result_ids={ids}", name="/api/v1/compare")
