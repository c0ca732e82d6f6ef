"""Sharding: routers that map a key to one of N shards (ring, jump, rendezvous, range, directory) and shard maps."""

from datastrata.sharding.codec import ROUTER_KINDS, router_from_dict
from datastrata.sharding.directory import DirectoryRouter
from datastrata.sharding.jump import JumpRouter
from datastrata.sharding.keys import Key, encode_key, hash_key
from datastrata.sharding.ranges import KeyRange, RangeRouter
from datastrata.sharding.rendezvous import RendezvousRouter
from datastrata.sharding.ring import RingRouter
from datastrata.sharding.router import Router
from datastrata.sharding.shardmap import Routed, ShardMap

__all__ = [
    "ROUTER_KINDS",
    "DirectoryRouter",
    "JumpRouter",
    "Key",
    "KeyRange",
    "RangeRouter",
    "RendezvousRouter",
    "RingRouter",
    "Routed",
    "Router",
    "ShardMap",
    "encode_key",
    "hash_key",
    "router_from_dict",
]
