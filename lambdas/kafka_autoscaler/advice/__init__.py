"""The advisor: reads broker, topic and group configuration and says what blocks scaling.

`facts` (frozen values) and `checks` (pure) are used by the tick and by `kafka-autoscaler
advise`; `reader` reads the facts through Kafka's admin API.
"""
