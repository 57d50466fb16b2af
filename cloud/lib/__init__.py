"""Cross-cutting helpers of the cloud: problem details, time, pagination."""
