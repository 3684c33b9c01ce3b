"""Loopback address allocation: locked or busy addresses are never handed out twice."""

import socket
import subprocess
import sys
import textwrap

from hybridsync.engine.lab import net


def test_two_allocations_in_one_process_get_different_addresses():
    a, lock_a = net.allocate_address()
    b, lock_b = net.allocate_address()
    try:
        assert a != b
        assert a.startswith("127.0.0.") and 2 <= int(a.rsplit(".", 1)[1]) <= 250
    finally:
        lock_a.release()
        lock_b.release()


def test_an_address_locked_by_another_process_cannot_be_taken():
    address, lock = net.allocate_address()
    try:
        child = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
            from hybridsync.engine.lab import net
            print(net.try_lock({address!r}) is None)
        """)], capture_output=True, text=True, check=True)
        assert child.stdout.strip() == "True"
    finally:
        lock.release()
    again = net.lock_address(address)  # released: free to take again
    again.release()


def test_an_address_with_a_dc_port_in_use_is_not_free():
    address, lock = net.allocate_address()
    try:
        assert net.ports_free(address)
        with socket.socket() as sock:
            sock.bind((address, 3268))
            sock.listen()
            assert not net.ports_free(address)
    finally:
        lock.release()
