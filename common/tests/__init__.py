"""Tests of the shared package food_common (run from common/: `pytest`)."""
