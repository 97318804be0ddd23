"""The notification-controller: Provider, Alert and Receiver; events in, alerts out, webhooks in."""
