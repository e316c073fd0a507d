"""Simulation group: Monte Carlo, scenarios, event studies and model calibrations of the book."""
