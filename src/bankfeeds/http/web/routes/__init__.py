"""Web UI routes: parse the request, call one service, render a template."""
