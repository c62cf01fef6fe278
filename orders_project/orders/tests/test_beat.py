"""The beat of this project (`bin/beat orders`) sends its own tasks to its own queues."""

from orders_config.celery import app

from food_common.celery_app import beat_schedule_problems


def test_beat_sends_the_projects_tasks_to_its_queues_and_sweeps_its_outbox():
    assert beat_schedule_problems(app) == []
