"""User modules for the checker's tests: `flagged` apps break a rule on every line marked
`# expect: DUR###`; `clean` apps hold look-alikes that must not be reported."""
