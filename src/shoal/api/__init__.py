"""Pure data: the resource kinds, their defaults and validation, configuration, errors."""
