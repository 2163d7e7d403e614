"""Attention layers (keras/src/layers/attention/) and EinsumDense, one class per module."""

from .einsum_dense import EinsumDense
from .multi_head_attention import MultiHeadAttention
from .attention import Attention
from .additive_attention import AdditiveAttention
from .grouped_query_attention import GroupedQueryAttention, GroupQueryAttention

__all__ = ["EinsumDense", "MultiHeadAttention", "Attention", "AdditiveAttention",
           "GroupedQueryAttention", "GroupQueryAttention"]
