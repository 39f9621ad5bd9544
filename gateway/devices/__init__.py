"""Device drivers: each wraps one protocol library behind the DeviceDriver interface of `base`."""
