"""Configuration: the kiosk's TOML file, validated into typed settings."""
