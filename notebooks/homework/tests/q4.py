OK_FORMAT = True

test = {'name': 'q4', 'points': [0], 'suites': [{'cases': [{'code': '>>> hw1.check_cycles(q4)\nok\n', 'hidden': False, 'locked': False}], 'scored': True, 'setup': '', 'teardown': '', 'type': 'doctest'}]}
