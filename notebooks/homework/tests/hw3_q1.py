OK_FORMAT = True

test = {   'name': 'hw3_q1',
    'points': [0],
    'suites': [{'cases': [{'code': '>>> hw3.check_request(q1)\nok\n', 'hidden': False, 'locked': False}], 'scored': True, 'setup': '', 'teardown': '', 'type': 'doctest'}]}
