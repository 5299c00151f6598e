"""The registry service: organisations, programmes, commissioned partners, participants
and co-producers — who is in the programme, under which contract."""
