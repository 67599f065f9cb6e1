terraform {
  # No providers: this module only renders text, so it plans and applies
  # anywhere, including machines with no provider registry.
  required_version = ">= 1.5.0"
}
