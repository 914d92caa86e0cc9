"""The twin's OPC UA server (asyncua): address space, live values, methods, users, security.

Entry points for the CLI live in :mod:`twin.opcua.server`; the address space is built by
:func:`twin.opcua.addressspace.build_address_space` from the channel catalogue.
"""
