"""ML group: training dataset from the feature mart, the tracked model, daily predictions."""
