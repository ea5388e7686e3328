"""The read side: dashboards, history, forecasts, low-stock alerts and CSV exports."""
