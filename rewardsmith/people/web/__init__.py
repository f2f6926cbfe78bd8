"""The run's page in a browser (``rewardsmith serve``): a local server and its static assets (plain HTML,
JavaScript and CSS shipped in the package; nothing fetched from the internet, no build step)."""
