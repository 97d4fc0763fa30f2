"""The SimPy model of checkout verification traffic.

Arrivals, the SMS gateway (channels, queue, latency, busy periods, loss), buyers and
fraud agents, all driving the real ``verifier.Verifier`` in simulated time. Nothing
here re-implements a policy rule: the engine decides, the model only acts.
"""
