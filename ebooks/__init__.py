"""The eBook catalogue per token: metadata, license counts, dashboards."""
