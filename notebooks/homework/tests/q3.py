OK_FORMAT = True

test = {'name': 'q3', 'points': [0], 'suites': [{'cases': [{'code': '>>> hw1.check_category(q3)\nok\n', 'hidden': False, 'locked': False}], 'scored': True, 'setup': '', 'teardown': '', 'type': 'doctest'}]}
