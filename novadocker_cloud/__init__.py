"""A real single-node OpenStack around nova-docker, from PyPI and apt.

The launcher behind README command 1: MariaDB, RabbitMQ, Open vSwitch, OVN,
a Docker engine, Keystone, Glance, Placement, Neutron (ML2/OVN) and the Nova
services, each the real one, each in a module of :mod:`.services` that
writes its configuration, starts its processes, waits until they answer and
stops them. :mod:`.orchestrator` runs them in order.
"""
