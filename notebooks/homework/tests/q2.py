OK_FORMAT = True

test = {'name': 'q2', 'points': 3, 'suites': [{'cases': [{'code': '>>> hw1.check_sret(my_sret)\nok\n', 'hidden': False, 'locked': False}], 'scored': True, 'setup': '', 'teardown': '', 'type': 'doctest'}]}
