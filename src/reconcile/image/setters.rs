//! Setter markers (`# {"$imagepolicy": "ns:name"}`) and the byte-preserving rewrite of marked values.
