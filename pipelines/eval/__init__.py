"""`baton eval`: run a suite of representative tasks, measure success, duration, cost and the
reviewer's calibration against hidden checks the agents never see."""
