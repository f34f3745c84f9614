OK_FORMAT = True

test = {'name': 'hw2_q4', 'points': [0], 'suites': [{'cases': [{'code': '>>> hw2.check_letter(q4)\nok\n', 'hidden': False, 'locked': False}], 'scored': True, 'setup': '', 'teardown': '', 'type': 'doctest'}]}
