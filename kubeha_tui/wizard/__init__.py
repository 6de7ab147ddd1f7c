"""The deploy wizard: the stack's nginx and MariaDB-on-RBD examples as one safe flow."""
