"""A real single-node OpenStack around nova-docker, from PyPI and apt.

The launcher behind README command 1: MariaDB, RabbitMQ, Open vSwitch, OVN,
a Docker engine, Keystone, Glance, Placement, Neutron (ML2/OVN) and the Nova
services, each the real one, each in a module of :mod:`.services` that
writes its configuration, starts its processes, waits until they answer and
stops them. :mod:`.orchestrator` runs them in order.
"""

import warnings

# The audit and the soak read the driver's names (container labels, image
# repositories); importing the driver imports oslo.privsep, which imports
# eventlet, which warns on import that it is deprecated. Nova 34 does not
# run on it: nothing for the operator to act on.
warnings.filterwarnings('ignore', message='\nEventlet is deprecated')
